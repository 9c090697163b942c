// Package netsim is hsmsim's fault-injecting network: the one layer through which the Raft
// transport and the gRPC clients and servers of every test, scenario and process layout make
// their connections, so that one set of rules (partitions, latency, jitter, loss) between named
// endpoints takes effect on real TCP connections.
//
// # Wiring
//
// A [Network] holds one rule set. Every participant is an [Endpoint] (a node "hsm-a" in AZ
// "us-east-1a", or a client "client-1" with no AZ). Servers listen through [Network.Listen];
// clients connect through [Network.Dialer] or [Network.DialTimeout]. Both ends must be wrapped:
// the dialer opens each connection with a short preamble naming itself (see Wire preamble), and
// the listener consumes it before handing the connection to the server.
//
//	gRPC client:  grpc.WithContextDialer(n.Dialer(netsim.Endpoint{Name: "client-1"}))
//	gRPC server:  srv.Serve(must(n.Listen(ep, "tcp", "127.0.0.1:0")))
//	Raft:         a raft.StreamLayer is the listener plus
//	              func (s stream) Dial(a raft.ServerAddress, t time.Duration) (net.Conn, error) {
//	                  return s.n.DialTimeout(s.ep, string(a), t)
//	              }
//
// A dialer must know whom it dials: [Network.Listen] registers its own address, and addresses
// served by other processes are named with [Network.Register]. Lookup is by exact address string,
// except that loopback and unspecified hosts ("127.0.0.1", "localhost", "::1", "[::]") with the
// same port are treated as one address. An unregistered address is dialed as an endpoint named by
// the address itself (a node of another process that nobody registered): the connection works,
// rules naming that address apply, and the listener on the other side still learns the dialer's
// name from the preamble.
//
// # Semantics
//
// Rules are directional: from→to concerns the bytes that from sends to to.
//
//   - Partition. No byte crosses a cut direction. A dial is a black hole, as in a real AZ outage:
//     while either direction between the two endpoints is cut (a TCP handshake needs both), Dial
//     blocks until the cut heals (then it connects normally, as a retransmitted SYN would) or until
//     the context deadline, or [Timing.Dial] when the context has none, and then fails with an
//     error matching both [ErrPartitioned] and the context's error. On an established connection,
//     writes in a cut direction still succeed (up to a 4 MiB send buffer; then Write blocks,
//     honouring the write deadline) but the bytes are held, not delivered; bytes in the open
//     direction keep flowing. When the cut heals, held bytes are delivered in order and the
//     connection carries on, as TCP does after retransmissions. If bytes stay held longer than
//     [Timing.Break] (TCP's retransmission timeout), the connection is reset: both sides see an
//     error ([ErrTimedOut] on the side that held the bytes). An idle connection across a
//     partition is not broken, exactly as with TCP.
//   - Enforcement. Each wrapped connection enforces partitions on what it sends and on what it
//     receives (received bytes of a cut direction are held in the connection until it heals), so
//     a rule known to either end's Network suffices; that matters when nodes run in separate
//     processes with separate Networks. Links (latency, jitter, loss) act at the sending end only.
//   - Latency and jitter. Each Write is delivered Latency plus a uniform random [0, Jitter) after
//     it was made; delivery order within a connection is preserved (a write is never delivered
//     before an earlier one). A dial also waits one round trip (the two directions' Latency).
//   - Loss. TCP does not lose bytes, it retransmits them. So Loss is the probability that a Write
//     is "lost" and stalls for a retransmission: [Timing.Retransmit] (200 ms by default), doubling
//     for each further consecutive loss, at most six times.
//   - AZs. [Network.IsolateAZ] cuts every pair of endpoints whose AZs are both non-empty and differ
//     while one of them is isolated. Endpoints without an AZ (clients) are only affected by rules
//     naming them: cut a client off with [Network.Partition]. Link rules between two endpoints take
//     precedence over link rules between their AZs; [Network.SetAZLink] applies only between
//     endpoints with non-empty AZs (the same AZ on both sides is allowed).
//   - Kill. [Network.CloseConns] abruptly resets every live connection to or from an endpoint
//     (both ends see [ErrReset] or a connection reset); it does not close listeners.
//   - Close. Closing a connection delivers what is still queued (subject to the rules, bounded by
//     [Timing.Break]) and then closes the TCP connection, as a kernel does after close(2).
//
// # Determinism
//
// The seed given to [New] drives every random decision (jitter, loss). The same seed and the same
// sequence of writes across the Network's links give the same decisions; the goroutine
// scheduling of concurrent connections can still reorder that sequence.
//
// # Rules across processes
//
// [Rule] is a JSON value ({"kind":"partition","from":"hsm-a","to":"hsm-b"}); [Network.Rules]
// reports what is in force, [Network.Apply] sets one rule and [Network.Clear] removes all, so an
// admin RPC can carry rules between processes. Replacing a rule set is Clear followed by Apply of
// each rule.
//
// # Wire preamble
//
// The first bytes a netsim dialer sends on a new TCP connection, before any payload:
//
//	"NSIM" | version byte 0x01 | uint16 big-endian len(name) | name | uint16 len(az) | az
//
// Names and AZs are at most 1024 bytes. The listener reads exactly these bytes (within
// [Timing.Dial]) and closes connections whose preamble is malformed. A connection whose first
// four bytes are not "NSIM" is a client outside netsim (the CLI, the PKCS#11 module, an SDK, none
// of which speak the preamble): its bytes are passed on untouched and it counts as the
// [External] endpoint, so rules naming "external" cut such clients off on the listening side.
package netsim
