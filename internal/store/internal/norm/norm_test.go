package norm

import (
	"errors"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/store"
)

func TestPage(t *testing.T) {
	cases := []struct {
		name                  string
		page                  store.Page
		wantLimit, wantOffset int
		wantErr               bool
	}{
		{"ok/zero limit is the default", store.Page{}, DefaultLimit, 0, false},
		{"ok/as given", store.Page{Offset: 7, Limit: 3}, 3, 7, false},
		{"fail/negative offset", store.Page{Offset: -1}, 0, 0, true},
		{"fail/negative limit", store.Page{Limit: -1}, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit, offset, err := Page(tc.page)
			if tc.wantErr != errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want invalid: %v", err, tc.wantErr)
			}
			if limit != tc.wantLimit || offset != tc.wantOffset {
				t.Fatalf("limit, offset = %d, %d, want %d, %d",
					limit, offset, tc.wantLimit, tc.wantOffset)
			}
		})
	}
}

func TestTime(t *testing.T) {
	in := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("UTC+2", 2*60*60))
	want := time.Date(2030, 1, 2, 1, 4, 5, 123456000, time.UTC)
	t.Run("ok/utc microseconds", func(t *testing.T) {
		if got := Time(in); got != want {
			t.Fatalf("Time = %v, want %v", got, want)
		}
	})
	t.Run("ok/zero is now", func(t *testing.T) {
		got := Time(time.Time{})
		if got.IsZero() || got.Location() != time.UTC || got.Nanosecond()%1000 != 0 {
			t.Fatalf("Time(zero) = %v, want now in UTC microseconds", got)
		}
	})
}
