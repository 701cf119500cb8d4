// Public surface of the wire layer.
export * from './wire.js';
export * from './switch.js';
export * from './socket.js';
export * from './pcap.js';
