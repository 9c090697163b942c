package traffic

// EnvModule names a prebuilt libhsmsim-pkcs11.so; without it the module is built from this
// source tree (go build -buildmode=c-shared) the first time a pkcs11 workload runs.
const EnvModule = "HSMSIM_PKCS11_MODULE"
