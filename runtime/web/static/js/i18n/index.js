// Every area's catalogue. Add a line per new area file.
import admin from './admin.js';
import common from './common.js';
import shell from './shell.js';

export const CATALOGUES = [common, shell, admin];
