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
//	                             addresses, tags), backups (state, dates, lineage, copies'
//	                             sources, resource policies) and the per-lineage HSM CAs
//	                             (certificate and key), 0600
//	backup-service.key           the backup service key (cluster.NewServiceKey), 0600
//	backups/<backup id>.bak      backup files (cluster.Member.Backup; a copy's are its source's)
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
// # Regions and accounts
//
// One service serves every region and account: a request acts in the region of its SigV4
// credential scope and the account of its access key (awsapi.Caller). Each region's control
// plane sees its own clusters and backups only; CopyBackupToRegion copies a backup into another
// region (backups.go), and a backup's resource policy shares it with other accounts, which see
// it with DescribeBackups(Shared=true) and restore it by ARN (policy.go).
//
// # States and timing
//
// CreateCluster answers CREATE_IN_PROGRESS and the cluster is UNINITIALIZED at once;
// InitializeCluster answers INITIALIZE_IN_PROGRESS and the cluster is INITIALIZED at once. The
// cluster turns ACTIVE when its token shows the admin activated (the admin changed the initial
// password through any HSM), observed whenever the cluster is described or looked up and by the
// service's maintenance round. A cluster made from a backup is ACTIVE (or INITIALIZED, as its
// source was when the backup was taken). CreateHsm returns when the HSM has joined (it is a
// voter, caught up). DeleteHsm answers at once and the HSM is DELETE_IN_PROGRESS until the
// membership change commits (retried in the background, as long as it takes: a cluster without
// quorum cannot commit it), then it is gone. Otherwise an HSM's state is the member's own
// (cluster.Member.HSMState): ACTIVE, DEGRADED when it has no leader contact or was killed,
// CREATE_IN_PROGRESS while joining. DescribeClusters shows an ACTIVE cluster with a DEGRADED HSM
// as DEGRADED (the directory, Cluster, keeps the life-cycle state the KMS checks).
// ModifyCluster's HsmType migration (hsm1.medium to hsm2m.medium, and back within 24 hours) runs
// in the background through MODIFY_IN_PROGRESS or ROLLBACK_IN_PROGRESS (modify.go).
//
// # Backups
//
// Taken, as CloudHSM takes them, when an initialized cluster gets or loses an HSM, when the
// cluster turns ACTIVE, before each HSM of a type migration, and daily: every
// Config.MaintenanceInterval (real time) the service reads its clock (Config.Now, which tests
// move by days) and backs up each ACTIVE cluster whose newest backup is a day old. DeleteBackup
// puts a backup in PENDING_DELETION for 7 days (RestoreBackup brings it back to READY); after
// that, and after the cluster's retention period (unless NeverExpires, and never the cluster's
// newest backup, nor a migrated cluster's newest hsm1.medium backup), it is DELETED. A copy in
// another region, or a backup whose cluster is gone, has no retention policy. Adding an HSM to an
// initialized cluster that has none restores the cluster's newest backup onto it, as CloudHSM
// does; CreateCluster with SourceBackupId makes a new cluster whose first HSM restores that
// backup.
//
// # Subnets
//
// There is no EC2. SubnetID(az) is the subnet the service places in each AZ of its region;
// CreateCluster accepts those and any other well-formed subnet id, which it assigns to the
// region's AZs a, b, c, ... in order. The subnet in an AZ has the range SubnetCIDR(az); an HSM's
// ENI IP is an address of it (CreateHsm's IpAddress, or the first free one), unique in the
// account's VPC. The ENI IP names the HSM (DeleteHsm's EniIp) but is not where it listens: HSMs
// listen on Config.Host, at the addresses of the client config (ClientConfig).
package cloudhsm
