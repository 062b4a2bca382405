// Package didtest holds test helpers for DIDs and their signatures that do
// not share code with the signer: a textbook ES256K verifier written with
// math/big, so that tests check signatures independently of the secp256k1
// library that made them.
package didtest

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
)

// secp256k1 domain parameters (SEC 2), for a verifier written here with
// math/big so that ES256K signatures are checked independently of the
// signing library.
var (
	curveP, _  = new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)
	curveN, _  = new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
	curveGx, _ = new(big.Int).SetString("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", 16)
	curveGy, _ = new(big.Int).SetString("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8", 16)
)

type point struct{ x, y *big.Int } // x == nil is the point at infinity

func mod(v *big.Int) *big.Int { return v.Mod(v, curveP) }

func add(a, b point) point {
	if a.x == nil {
		return b
	}
	if b.x == nil {
		return a
	}
	var l *big.Int
	if a.x.Cmp(b.x) == 0 {
		if new(big.Int).Add(a.y, b.y).Cmp(curveP) == 0 || a.y.Sign() == 0 {
			return point{}
		}
		// l = 3x² / 2y
		num := new(big.Int).Mul(big.NewInt(3), new(big.Int).Mul(a.x, a.x))
		den := new(big.Int).ModInverse(new(big.Int).Lsh(a.y, 1), curveP)
		l = mod(num.Mul(num, den))
	} else {
		num := new(big.Int).Sub(b.y, a.y)
		den := new(big.Int).ModInverse(mod(new(big.Int).Sub(b.x, a.x)), curveP)
		l = mod(num.Mul(num, den))
	}
	x := mod(new(big.Int).Sub(new(big.Int).Sub(new(big.Int).Mul(l, l), a.x), b.x))
	y := mod(new(big.Int).Sub(new(big.Int).Mul(l, new(big.Int).Sub(a.x, x)), a.y))
	return point{x, y}
}

func mul(k *big.Int, p point) point {
	r := point{}
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = add(r, r)
		if k.Bit(i) == 1 {
			r = add(r, p)
		}
	}
	return r
}

// Decompress recovers y from a compressed point: y = sqrt(x³+7), p ≡ 3 mod 4.
func Decompress(c []byte) (x, y *big.Int, err error) {
	if len(c) != 33 || (c[0] != 2 && c[0] != 3) {
		return nil, nil, errors.New("not a compressed point")
	}
	x = new(big.Int).SetBytes(c[1:])
	rhs := mod(new(big.Int).Add(new(big.Int).Exp(x, big.NewInt(3), curveP), big.NewInt(7)))
	exp := new(big.Int).Rsh(new(big.Int).Add(curveP, big.NewInt(1)), 2)
	y = new(big.Int).Exp(rhs, exp, curveP)
	if mod(new(big.Int).Mul(y, y)).Cmp(rhs) != 0 {
		return nil, nil, errors.New("x is not on the curve")
	}
	if y.Bit(0) != uint(c[0]&1) {
		y.Sub(curveP, y)
	}
	return x, y, nil
}

// VerifyES256K checks an ES256K JWS against a public key given as the JWK
// coordinates x and y (base64url), with the textbook ECDSA
// verification equation, and that S is in the lower half of the order. It
// returns the payload.
func VerifyES256K(token, x, y string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, errors.New("signature is not 64 bytes of base64url")
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if r.Sign() <= 0 || r.Cmp(curveN) >= 0 || s.Sign() <= 0 || s.Cmp(curveN) >= 0 {
		return nil, errors.New("r or s out of range")
	}
	if s.Cmp(new(big.Int).Rsh(curveN, 1)) > 0 {
		return nil, errors.New("s is not low")
	}
	xb, _ := base64.RawURLEncoding.DecodeString(x)
	yb, _ := base64.RawURLEncoding.DecodeString(y)
	q := point{new(big.Int).SetBytes(xb), new(big.Int).SetBytes(yb)}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	e := new(big.Int).SetBytes(h[:])
	w := new(big.Int).ModInverse(s, curveN)
	u1 := new(big.Int).Mod(new(big.Int).Mul(e, w), curveN)
	u2 := new(big.Int).Mod(new(big.Int).Mul(r, w), curveN)
	p := add(mul(u1, point{curveGx, curveGy}), mul(u2, q))
	if p.x == nil || new(big.Int).Mod(p.x, curveN).Cmp(r) != 0 {
		return nil, errors.New("ES256K signature does not verify")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}
