package record

import (
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyspec"
	"github.com/hsmsim/hsmsim/kms/multiregion"
)

// ARN is k's key ARN.
func (k *Key) ARN() string { return "arn:aws:kms:" + k.Region + ":" + k.Account + ":key/" + k.ID }

// Metadata is the KeyMetadata structure (DescribeKey, CreateKey, ReplicateKey).
type Metadata struct {
	AWSAccountId                string
	KeyId                       string
	Arn                         string
	CreationDate                *awsapi.Timestamp
	Enabled                     bool
	Description                 string
	KeyUsage                    string
	KeyState                    string
	DeletionDate                *awsapi.Timestamp `json:",omitempty"`
	Origin                      string
	CustomKeyStoreId            string `json:",omitempty"`
	CloudHsmClusterId           string `json:",omitempty"`
	KeyManager                  string
	CustomerMasterKeySpec       string
	KeySpec                     string
	EncryptionAlgorithms        []string `json:",omitempty"`
	SigningAlgorithms           []string `json:",omitempty"`
	MacAlgorithms               []string `json:",omitempty"`
	KeyAgreementAlgorithms      []string `json:",omitempty"`
	MultiRegion                 bool
	PendingDeletionWindowInDays int               `json:",omitempty"`
	CurrentKeyMaterialId        string            `json:",omitempty"`
	ExpirationModel             string            `json:",omitempty"`
	ValidTo                     *awsapi.Timestamp `json:",omitempty"`

	MultiRegionConfiguration *multiregion.Configuration `json:",omitempty"`
}

// Metadata is k's KeyMetadata in state (State), with its set's configuration mrc (nil for a
// single-Region key).
func (k *Key) Metadata(state string, mrc *multiregion.Configuration) *Metadata {
	m := &Metadata{AWSAccountId: k.Account, KeyId: k.ID, Arn: k.ARN(), CreationDate: awsapi.Time(k.Created),
		Enabled: state == StateEnabled || state == StateUpdating, Description: k.Desc, KeyUsage: k.Usage, KeyState: state, Origin: k.Origin,
		CustomKeyStoreId: k.StoreID, CloudHsmClusterId: k.ClusterID, KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec, MultiRegion: k.MultiRegion, MultiRegionConfiguration: mrc}
	if k.Pending {
		m.DeletionDate, m.PendingDeletionWindowInDays = awsapi.Time(k.DeleteAt), k.Window // no date while PendingReplicaDeletion
	}
	if k.Usage == keyspec.EncryptDecrypt && k.Spec == keyspec.Symmetric {
		m.EncryptionAlgorithms = []string{keyspec.Symmetric}
		if len(k.Versions) > 0 { // a key awaiting its first import has none
			m.CurrentKeyMaterialId = k.Versions[len(k.Versions)-1].ID
		}
	}
	if k.Origin == "EXTERNAL" {
		m.ExpirationModel, m.ValidTo = k.Expiry()
	}
	if k.Spec != keyspec.Symmetric {
		m.EncryptionAlgorithms, m.SigningAlgorithms, m.MacAlgorithms, m.KeyAgreementAlgorithms = k.Algorithms()
	}
	return m
}

// Algorithms lists the algorithms of k's usage, by kind: encryption, signing, MAC, key agreement.
func (k *Key) Algorithms() (enc, sign, mac, agree []string) {
	algs := keyspec.Algorithms(k.Spec, k.Usage)
	switch k.Usage {
	case keyspec.EncryptDecrypt:
		return algs, nil, nil, nil
	case keyspec.SignVerify:
		return nil, algs, nil, nil
	case keyspec.GenerateVerifyMAC:
		return nil, nil, algs, nil
	}
	return nil, nil, nil, algs
}
