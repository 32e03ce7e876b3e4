// overnight's version, shown by --version and the dashboard's API.
export const VERSION = '0.1.0';
