// Every area's catalogue. Add a line per new area file.
import campaigns from './campaigns.js';
import common from './common.js';

export const CATALOGUES = [common, campaigns];
