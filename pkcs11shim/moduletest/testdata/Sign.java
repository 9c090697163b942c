// Sign drives the hsmsim PKCS#11 module through Java's SunPKCS11 provider, as a Java application
// would. It logs in with the PIN in $HSMSIM_PIN. Without an alias it has the HSM make an EC P-256
// key pair (the provider config decides its attributes: the test's config makes token objects
// with a label), signs with SHA256withECDSA in the HSM, and verifies with the JDK's own SunEC
// provider; a tampered signature must not verify. With an alias it signs with that private key
// entry of the PKCS11 key store (a token key with a certificate) and verifies with the
// certificate's key. It prints what the caller checks independently, one "name value" per line,
// values in base64.
//
// Run as a single-file program, no build step: java Sign.java CONFIG [ALIAS]
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

public class Sign {
    static final byte[] MESSAGE = "signed through SunPKCS11".getBytes(StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        Provider p11 = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p11);
        KeyStore ks = KeyStore.getInstance("PKCS11", p11);
        ks.load(null, System.getenv("HSMSIM_PIN").toCharArray());
        System.out.println("message " + b64(MESSAGE));

        if (args.length > 1) {
            // A private key entry of the key store: a key with a certificate on the token.
            PrivateKey key = (PrivateKey) ks.getKey(args[1], null);
            if (key == null) {
                throw new AssertionError("the key store has no private key " + args[1]);
            }
            byte[] sig = sign(p11, key);
            check(ks.getCertificate(args[1]).getPublicKey(), sig);
            System.out.println("signature " + b64(sig));
            return;
        }

        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC", p11);
        gen.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair kp = gen.generateKeyPair();
        // A key the HSM holds: the provider's own class, and no encoding of the private value.
        System.out.println("private-class " + kp.getPrivate().getClass().getName());
        System.out.println("private-encoded " + (kp.getPrivate().getEncoded() != null));
        byte[] spki = kp.getPublic().getEncoded();
        PublicKey soft = KeyFactory.getInstance("EC", "SunEC").generatePublic(new X509EncodedKeySpec(spki));
        byte[] sig = sign(p11, kp.getPrivate());
        check(soft, sig);
        System.out.println("public " + b64(spki));
        System.out.println("signature " + b64(sig));
    }

    static byte[] sign(Provider p11, PrivateKey key) throws Exception {
        Signature s = Signature.getInstance("SHA256withECDSA", p11);
        s.initSign(key);
        s.update(MESSAGE);
        return s.sign();
    }

    // check verifies with SunEC, the JDK's software implementation, not the HSM.
    static void check(PublicKey pub, byte[] sig) throws Exception {
        if (!verify(pub, sig)) {
            throw new AssertionError("SunEC does not verify the HSM's signature");
        }
        byte[] bad = sig.clone();
        bad[bad.length - 1] ^= 1;
        if (verify(pub, bad)) {
            throw new AssertionError("SunEC verifies a tampered signature");
        }
    }

    static boolean verify(PublicKey pub, byte[] sig) throws Exception {
        Signature v = Signature.getInstance("SHA256withECDSA", "SunEC");
        v.initVerify(pub);
        v.update(MESSAGE);
        try {
            return v.verify(sig);
        } catch (java.security.SignatureException e) {
            return false; // a tampered DER encoding
        }
    }

    static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }
}
