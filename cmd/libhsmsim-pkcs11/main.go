// Command libhsmsim-pkcs11 is the c-shared main of hsmsim's PKCS#11 module. Build it with
//
//	go build -buildmode=c-shared -o build/libhsmsim-pkcs11.so ./cmd/libhsmsim-pkcs11
//
// and load build/libhsmsim-pkcs11.so in any PKCS#11 application. Everything lives in package
// pkcs11shim; see its documentation for configuration and behaviour.
package main

import "C" // a c-shared main must use cgo for the module's exports to be kept

import _ "github.com/hsmsim/hsmsim/pkcs11shim" // the C_* exports

func main() {}
