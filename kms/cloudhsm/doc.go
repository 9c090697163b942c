// Package cloudhsm is hsmsim's CloudHSM service: the clusters of one process, their HSMs
// (in-process cluster.Members on one shared netsim.Network), their backups, and over them the
// CloudHSM V2 control plane and a directory of clusters for their clients.
//
// The control plane is the ControlPlane interface with its own request and answer types
// (types.go, mirroring the model's shapes); NewAPI serves it as BaldrApiService.* on an
// awsapi.Endpoint, the one the KMS shares (package kms/awsapi is the wire; this package does not
// depend on the KMS). The directory (directory.go: Cluster, Dial) is how KMS custom key stores
// find and dial a cluster: Service satisfies kms.ClusterDirectory, the interface the KMS defines.
//
// # State
//
// Everything lives in one data directory:
//
//	catalog.json                 clusters (state, subnets, certificates, HSMs with AZ and
//	                             addresses, tags), backups (state, dates, lineage) and the
//	                             per-lineage HSM CAs (certificate and key), 0600
//	backup-service.key           the backup service key (cluster.NewServiceKey), 0600
//	backups/<backup id>.bak      backup files (cluster.Member.Backup)
//	clusters/<cluster id>/       customerCA.crt (after InitializeCluster), hsm-ca.crt, client.json
//	clusters/<id>/hsms/<hsm id>/ each HSM's data directory (its node store, raft.db, TLS pair)
//
// Open resumes every HSM of every cluster on its recorded addresses; each rejoins its cluster.
// Provision (provision.go) brings a cluster up through these same APIs, as an operator would:
// hsmsim up (internal/embedded) and the scenario engine make their clusters with it.
//
// # Certificates: what is real, what is emulated
//
// CreateCluster makes the cluster's HSM CA, an ECDSA P-256 key and a self-signed certificate
// (pki.NewCA). Its key is the key behind the cluster's CSR: Certificates.ClusterCsr is a real
// PKCS#10 CSR signed by it, shown while the cluster is UNINITIALIZED and has an HSM (as AWS shows
// it once the first HSM exists). InitializeCluster checks that SignedCert certifies that very key
// and chains (directly, or through intermediates appended to SignedCert) to TrustAnchor; the
// signed certificate becomes Certificates.ClusterCertificate and TrustAnchor the cluster's
// customerCA.crt, which is what KMS compares with a key store's TrustAnchorCertificate
// (IncorrectTrustAnchorException).
//
// HSM TLS certificates are issued by the HSM CA, not by the customer's CA (whose key the service
// never has), and Raft's mutual TLS trusts the HSM CA. So the trust anchor a PKCS#11 client or the
// KMS verifies HSMs with is the HSM CA (clusters/<id>/hsm-ca.crt, the client config's
// trust_anchor), while customerCA.crt is the customer's claim on the cluster. A cluster made from
// a backup runs with its source's HSM CA (a backup only restores into a cluster with the same
// one), keeps its source's cluster certificate and trust anchor, and is therefore "related".
//
// # States and timing
//
// CreateCluster answers CREATE_IN_PROGRESS and the cluster is UNINITIALIZED at once;
// InitializeCluster answers INITIALIZE_IN_PROGRESS and the cluster is INITIALIZED at once. The
// cluster turns ACTIVE when its token shows the admin activated (the admin changed the initial
// password through any HSM), observed whenever the cluster is described or looked up. A cluster
// made from a backup is ACTIVE (or INITIALIZED, as its source was when the backup was taken).
// CreateHsm and DeleteHsm return when the HSM has joined (it is a voter, caught up) or is gone;
// an HSM's state is the member's own (cluster.Member.HSMState): ACTIVE, DEGRADED when it has no
// leader contact or was killed, CREATE_IN_PROGRESS while joining.
//
// # Backups
//
// Taken, as CloudHSM takes them, when an initialized cluster gets or loses an HSM and when the
// cluster turns ACTIVE (no daily backup: the emulator runs for minutes, not days). DeleteBackup
// puts a backup in PENDING_DELETION for 7 days (RestoreBackup brings it back to READY); after
// that, and after the cluster's retention period (unless NeverExpires, and never the cluster's
// last backup), it is DELETED. Both are checked whenever backups are listed. Adding an HSM to an
// initialized cluster that has none restores the cluster's newest backup onto it, as CloudHSM
// does; CreateCluster with SourceBackupId makes a new cluster whose first HSM restores that backup.
//
// # Subnets
//
// There is no EC2. SubnetID(az) is the subnet the service places in each AZ of its region;
// CreateCluster accepts those and any other well-formed subnet id, which it assigns to the
// region's AZs a, b, c, ... in order. An HSM's ENI IP is the host the service listens on.
package cloudhsm
