// Package managesieve is the ManageSieve server (RFC 5804): the protocol
// Thunderbird's and Roundcube's Sieve editors and sieve-connect use to
// list, upload, check and activate a user's scripts. The scripts
// themselves are sievestore's; this package knows the grammar, the
// states and the response codes.
//
// What it owns: the command reader (command.go: atoms, quoted strings,
// literals {n} and {n+}, limits), the response writer (quoted when
// safe, literal otherwise), and the session (session.go: the
// non-authenticated and authenticated states, SASL PLAIN and LOGIN, one
// function per command).
//
// Invariants:
//   - The reader never holds more than MaxLine octets of a command line
//     outside literals, nor a literal over its limit: PUTSCRIPT and
//     CHECKSCRIPT literals up to the script size limit, every other
//     string up to MaxString. A literal over its limit is read and
//     dropped (the client sends it without waiting, RFC 5804 §4: no
//     continuation exists), then the command is answered NO, so its
//     octets never run as commands; one over MaxDiscard ends the
//     session with BYE.
//   - Both literal forms are accepted from the client, and neither gets
//     a continuation: {n+} is the RFC's form, {n} is what older clients
//     (and Pigeonhole's tolerance) send.
//   - A script is stored only after it compiles (PUTSCRIPT, RFC 5804
//     §2.6); the error text names the line and column.
//   - STARTTLS is offered only when a certificate is configured and
//     only before TLS; input pipelined after it is discarded, and the
//     capabilities are sent again after the handshake (tls.go).
//   - Off the trusted networks, before TLS, SASL lists no mechanism and
//     AUTHENTICATE answers NO (ENCRYPT-NEEDED): no password in clear.
//   - A failed authentication waits AuthFailDelay before its NO; after
//     MaxErrors bad commands the session ends with BYE.
//   - Every session recovers its own panic, logs it with the session id
//     and closes that connection only.
package managesieve
