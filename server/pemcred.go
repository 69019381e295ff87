package server

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
)

// parsePEMCredential reads a certificate chain and its unencrypted private key (PKCS#8, PKCS#1
// or EC) from PEM.
func parsePEMCredential(b []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	var certs []*x509.Certificate
	var key crypto.PrivateKey
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, err
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, err
			}
			key = k
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, err
			}
			key = k
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, err
			}
			key = k
		}
	}
	if len(certs) == 0 || key == nil {
		return nil, nil, errors.New("needs a CERTIFICATE and an unencrypted PRIVATE KEY in PEM")
	}
	return certs, key, nil
}
