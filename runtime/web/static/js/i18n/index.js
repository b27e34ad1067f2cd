// Every area's catalogue. Add a line per new area file.
import common from './common.js';
import rich from './rich.js';

export const CATALOGUES = [common, rich];
