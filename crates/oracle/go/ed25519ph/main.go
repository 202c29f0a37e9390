// Command ed25519ph verifies a Rekor hashedrekord signature the way Rekor
// does, with Go's crypto/ed25519 (Ed25519ph: Options{Hash: crypto.SHA512},
// Go 1.20 or later), an implementation independent of ours.
//
//	ed25519ph SPKI_BASE64 SIGNATURE_BASE64 FILE
//
// SPKI is the DER SubjectPublicKeyInfo the request names; the signature
// must be Ed25519ph over SHA-512 of FILE. Prints "ok", or fails.
package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ed25519ph:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run() error {
	if len(os.Args) != 4 {
		return fmt.Errorf("usage: ed25519ph SPKI_BASE64 SIGNATURE_BASE64 FILE")
	}
	der, err := base64.StdEncoding.DecodeString(os.Args[1])
	if err != nil {
		return fmt.Errorf("public key: %v", err)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return fmt.Errorf("public key: %v", err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("public key is a %T, not Ed25519", key)
	}
	sig, err := base64.StdEncoding.DecodeString(os.Args[2])
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	msg, err := os.ReadFile(os.Args[3])
	if err != nil {
		return err
	}
	digest := sha512.Sum512(msg)
	return ed25519.VerifyWithOptions(pub, digest[:], sig, &ed25519.Options{Hash: crypto.SHA512})
}
