export * from './close-codes.js';
export * from './messages.js';
