import { writeToStream } from 'mqtt-packet';

// mqtt-packet builds 65,536 two-byte buffers (about 6 MiB of heap, kept for the daemon's life) on
// its first packet, to write packet ids and lengths from a table; making the two bytes on the spot
// costs nothing next to a packet's trip. Imported by both the broker and the bridge's client, before
// either writes a packet (they share one copy of mqtt-packet).
writeToStream.cacheNumbers = false;
