package imap

import "bytes"

// Content-transfer-encoding decoders for BINARY (RFC 3516 §4.2), lenient
// as mail needs: what is not part of the encoding is skipped or kept,
// never an error, so BINARY of a damaged part still answers.

var b64Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// appendBase64 appends the decoding of src (RFC 2045 §6.8): characters
// outside the alphabet (line breaks, white space, garbage) are skipped,
// and the first "=" ends the data.
func appendBase64(dst, src []byte) []byte {
	var acc uint32
	n := 0
	for _, c := range src {
		if c == '=' {
			break
		}
		v := b64Index[c]
		if v < 0 {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		dst = append(dst, byte(acc>>4))
	case 3:
		dst = append(dst, byte(acc>>10), byte(acc>>2))
	}
	return dst
}

func unhexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

var qpLF, qpCRLF = []byte("\n"), []byte("\r\n")

// appendQP appends the decoding of src (RFC 2045 §6.7): "=XX" is an
// octet, "=" at the end of a line a soft line break, white space before
// a line break is transport padding and dropped; an "=" that is neither
// is kept as it is.
func appendQP(dst, src []byte) []byte {
	for len(src) > 0 {
		line := src
		var eol []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
			eol = qpLF
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
				eol = qpCRLF
			}
		} else {
			src = nil
		}
		line = bytes.TrimRight(line, " \t")
		soft := len(line) > 0 && line[len(line)-1] == '='
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) {
				h, ok1 := unhexDigit(line[i+1])
				l, ok2 := unhexDigit(line[i+2])
				if ok1 && ok2 {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
			dst = append(dst, c)
		}
		if !soft {
			dst = append(dst, eol...)
		}
	}
	return dst
}
