package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	s := &Server{trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"ok/direct client", "192.0.2.7:4000", "", "192.0.2.7"},
		{"ok/untrusted peer's header is ignored", "192.0.2.7:4000", "203.0.113.9", "192.0.2.7"},
		{"ok/trusted gateway", "10.1.2.3:4000", "203.0.113.9", "203.0.113.9"},
		{"ok/the gateway's entry wins over the client's", "10.1.2.3:4000", "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{"fail/garbage header falls back to the peer", "10.1.2.3:4000", "not-an-ip", "10.1.2.3"},
		{"ok/trusted gateway without header", "10.1.2.3:4000", "", "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth2/token", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := s.clientIP(r); got != tt.want {
				t.Fatalf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}
