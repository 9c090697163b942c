// Package cluster turns hsmsim HSM nodes (hsmd/server) into a cluster, CloudHSM style: every
// token change replicated with Raft (hashicorp/raft, logs and stable state in raft-boltdb/v2's
// raft.db, snapshots in the data directory), any member able to serve any client, HSMs added in
// a given AZ and removed while the cluster runs, a health check that keeps each HSM's state
// true, and backups that restore into a new, related cluster.
//
// # One member
//
// A Member (Start) is a server.Node plus Raft. It serves one gRPC server with TLS (pki.ServerTLS)
// carrying the node API and the internal Cluster service (clusterpb), and Raft's
// NetworkTransport on a second listener with mutual TLS where both ends must present a node
// certificate (an HSM id as common name) from the trust anchor. Every listener and dialer goes
// through a netsim.Network, so partitions, latency and kills apply to all traffic. The data
// directory holds hsm.db and node.key (the node's sealed store), raft.db and snapshots/.
//
// # Log entries and the state machine
//
// A log entry is one kind byte and its payload: a token.Command encoding (entryToken), a
// membership record (entryMembers), or a whole token from a backup (entryRestore). FSM applies
// runs of token entries with one token.State.ApplyBatch, one bbolt transaction and one fsync per
// batch. The FSM is durable: the store records the applied index in the same transaction as the
// data, so Raft runs with NoSnapshotRestoreOnStart and a restarted member's replayed entries are
// answered, not applied again. An entry that does not decode, or a store that fails, halts the
// member (Member.Done, Member.Err, Config.OnFatal); it is never skipped, and a restart halts on
// it again.
//
// # Writes
//
// The node's Proposer is the member: on the leader it appends to the log and waits for its own
// state machine's result; on a follower it forwards the encoded command to the leader
// (Cluster.Forward). It follows leader changes within Timeouts.Apply, retrying only commands
// that carry an idempotency id (a second copy is answered with the first one's result). A node
// that has had no leader for longer than an election (Heartbeat + 2 x Election) refuses writes
// with ErrNoQuorum (CKR_DEVICE_ERROR, gRPC Unavailable: clients fail over) while it keeps serving
// crypto with the keys it holds: reads are read-your-writes per client through the applied index
// the node API already carries (DESIGN.md rule 5).
//
// # Membership
//
// Raft's configuration holds each member's id and Raft address; the rest (AZ, API address) is a
// replicated record, put and deleted through the log (entryMembers) and kept in the node's store
// beside the token (bucket "cluster.members"). The members GetInfo lists are the configuration's,
// with those records and the states the health check last saw. A new member joins in two steps
// (Cluster.Join): staged as a nonvoter, which returns the cluster key over mutual TLS (the caller
// is authenticated by its certificate), then, once it applied the index it was given, promoted
// to voter. So a node catching up never counts toward a quorum, and a wiped node that asks to
// join under its old id is first taken out of the configuration (a voter that lost its state
// could vote twice in one term).
//
// # Lifecycle and states
//
// IDs follow AWS: cluster-, hsm-, backup- and 11 to 16 characters of [2-7a-zA-Z]. The first
// member Bootstraps (one-voter configuration, fresh cluster key, unactivated admin: cluster
// INITIALIZED, then ACTIVE once the admin changed its password). HSM states are
// CREATE_IN_PROGRESS (joining), ACTIVE (a voter in touch with a leader), DEGRADED (no leader
// contact within an election, or halted), DELETED (removed).
//
// # Faults and process layouts
//
// Kill stops a member as abruptly as possible in one process (see Member.Kill); the Cluster
// service's SetFaults sets netsim rules on a member in another process. Package clustertest runs
// whole clusters in a test.
//
// # Standalone nodes
//
// A standalone node is one member as its own process (hsmsim hsmd; the scenario engine's
// process mode runs several). Its directory, NodeDir, is the member's data directory plus its
// identity (node.json) and its PKI (pki/customerCA.crt, the key of the anchor on the node that
// made the cluster, the node's TLS pair); the layout lives here, beside the member's own files,
// so that one package knows the whole directory. StartStandalone takes plain options: on a
// first run it makes a new cluster (Init) or joins one (Join), issuing the node's certificate
// from the trust anchor, and writes node.json once the node has its place; later runs take the
// place again from the directory alone. Ports follow one layout: RaftPort is the Raft port that
// goes with an API port (hsmsim up --base-port, the CloudHSM service's BasePort, hsmd's default
// --raft-listen).
package cluster
