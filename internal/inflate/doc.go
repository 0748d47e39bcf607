// Package inflate decodes a raw DEFLATE stream (RFC 1951: stored,
// fixed-Huffman and dynamic-Huffman blocks over a 32 KiB window) and
// hands every decoded octet to its reader as soon as it is decoded. It
// exists for IMAP COMPRESS=DEFLATE (RFC 4978), where a client flushes
// each command with zlib's Z_PARTIAL_FLUSH (mbsync, neomutt, iOS Mail,
// Thunderbird) or Z_SYNC_FLUSH and then waits for the answer.
//
// compress/flate's reader does not return the octets of a block until
// it has read the header of the next one; after a partial flush that
// header is not complete on the wire (its last bits wait in the
// client's deflater until the next command), so the server would sit on
// the client's command while the client sits on the server's answer.
// This reader never waits for input it does not need: when its input
// runs dry it returns what it has decoded.
//
// Invariants:
//   - Read returns decoded octets as soon as the input for them is read:
//     it asks its source for more only when nothing decoded is left to
//     hand out and the input it holds decodes to nothing more.
//   - Each step of the decoder (a block header with its code tables, a
//     literal, a length with its distance, a stored block's length) is
//     decoded from the input it needs or not at all: when input runs out
//     inside one, the decoder goes back to where the step began and keeps
//     its octets until more come (a dynamic header may be parsed again;
//     no octet is output twice).
//   - Memory is fixed per Reader (about 50 KiB: the window, one input
//     buffer, the dynamic code tables) whatever the input; a hostile
//     stream cannot grow it and never makes it panic.
//   - Corrupt input is a sticky error wrapping ErrCorrupt; the source's
//     end inside the stream is a sticky io.ErrUnexpectedEOF; any other
//     error of the source (a read deadline) is returned as is and the
//     Reader can go on reading once the source can.
//   - It accepts exactly what compress/flate's reader accepts
//     (FuzzCorrupt compares them), degenerate one-code trees included.
//
// The standard library only.
package inflate
