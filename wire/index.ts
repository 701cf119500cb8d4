// Public surface of the wire layer.
export * from './wire.js';
