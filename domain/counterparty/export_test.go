package counterparty

// AccountIDForTest builds a valid Stellar account ID from one repeated byte, so tests need no SDK.
func AccountIDForTest(b byte) string {
	raw := make([]byte, 35)
	raw[0] = 6 << 3
	for i := 1; i <= 32; i++ {
		raw[i] = b
	}
	sum := crc16XModem(raw[:33])
	raw[33], raw[34] = byte(sum), byte(sum>>8)
	return stellarBase32.EncodeToString(raw)
}
