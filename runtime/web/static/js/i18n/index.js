// Every area's catalogue. Add a line per new area file.
import admin from './admin.js';
import campaigns from './campaigns.js';
import common from './common.js';
import contacts from './contacts.js';
import inbox from './inbox.js';
import media from './media.js';
import place from './place.js';
import rich from './rich.js';
import shell from './shell.js';
import toolkit from './toolkit.js';

export const CATALOGUES = [common, shell, admin, contacts, campaigns, inbox, toolkit, media, rich, place];
