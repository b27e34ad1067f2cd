// Every area's catalogue. Add a line per new area file.
import campaigns from './campaigns.js';
import common from './common.js';
import media from './media.js';
import rich from './rich.js';

export const CATALOGUES = [common, campaigns, media, rich];
