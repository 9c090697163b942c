package keyimport

import (
	"errors"
	"fmt"
)

// The errors of an import; package kms answers each with its AWS exception.
var (
	// ErrDeprecatedAlgorithm: RSAES_PKCS1_V1_5, which KMS stopped accepting on October 10, 2023
	// (GetParametersForImport, WrappingAlgorithm).
	ErrDeprecatedAlgorithm = errors.New("the RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported")
	// ErrSM2: the SM2 wrapping key spec and the SM2PKE algorithm, which KMS offers in the China
	// Regions only (Step 2 of "Importing key material").
	ErrSM2 = errors.New("the SM2 wrapping key spec and SM2PKE are offered only in the China Regions")
	// ErrUnsupportedSpec: a wrapping key spec that is not one of RSA_2048, RSA_3072, RSA_4096.
	ErrUnsupportedSpec = errors.New("unsupported wrapping key spec")
	// ErrUndecryptable: wrapped key material that the wrapping key and algorithm cannot open
	// (InvalidCiphertextException).
	ErrUndecryptable = errors.New("KMS cannot decrypt the encrypted key material with the wrapping key and algorithm of the import token")
	// ErrInvalidToken: bytes that are not an import token this KMS sealed for the key
	// (InvalidImportTokenException).
	ErrInvalidToken = errors.New("the import token is invalid")
	// ErrExpiredToken: an import token past its ParametersValidTo (ExpiredImportTokenException).
	ErrExpiredToken = errors.New("the import token has expired: call GetParametersForImport for a new one")
	// ErrIncorrectMaterial: key material that does not fit the key spec it is imported into
	// (IncorrectKeyMaterialException).
	ErrIncorrectMaterial = errors.New("the key material is not valid for the key spec of the KMS key")

	// errTokenUsed is ErrInvalidToken for a token that served an import already: each wrapping key
	// and token serve one import ("You must download and re-encrypt the key material each time you
	// import key material", Step 2 of the guide).
	errTokenUsed = fmt.Errorf("%w: it was used already, call GetParametersForImport for a new one", ErrInvalidToken)
)
