package vercmp

import (
	"errors"
	"testing"
)

func TestParseEcosystem(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Ecosystem
		ok   bool
	}{
		{"deb", Deb, true}, {"rpm", RPM, true}, {"apk", APK, true},
		{"DEB", "", false}, {"", "", false}, {"pacman", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEcosystem(tc.name)
			if got != tc.want || (err == nil) != tc.ok {
				t.Fatalf("ParseEcosystem(%q) = %q, %v", tc.name, got, err)
			}
			if err != nil && !errors.Is(err, ErrUnknownEcosystem) {
				t.Errorf("error %v does not wrap ErrUnknownEcosystem", err)
			}
		})
	}
}

// TestUnknownEcosystem pins what Compare and Validate do for an ecosystem
// they do not know: byte order, and an error.
func TestUnknownEcosystem(t *testing.T) {
	eco := Ecosystem("pacman")
	for _, tc := range []struct {
		a, b string
		want int
	}{{"1.10", "1.9", -1}, {"b", "a", 1}, {"x", "x", 0}} {
		if got := Compare(eco, tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q, %q) = %d, want %d", eco, tc.a, tc.b, got, tc.want)
		}
	}
	if err := Validate(eco, "1.0"); !errors.Is(err, ErrUnknownEcosystem) {
		t.Errorf("Validate(pacman) = %v, want ErrUnknownEcosystem", err)
	}
}

// TestDispatch checks that Compare and Validate reach each ecosystem's
// own rules: the same pair orders differently in each.
func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		eco       Ecosystem
		a, b      string
		want      int
		invalid   string
		wantError string
	}{
		// dpkg: '~' sorts before the end; rpm: also; apk: ~hash after.
		{Deb, "1.0~1", "1.0", -1, "a:1", `invalid deb version "a:1": epoch in version is empty`},
		{RPM, "1.0~1", "1.0", -1, "1.0-", `invalid rpm version "1.0-": release is empty`},
		{APK, "1.0~1", "1.0", 1, "1.0-r", `invalid apk version "1.0-r": invalid from offset 3: "-r"`},
	} {
		t.Run(string(tc.eco), func(t *testing.T) {
			if got := Compare(tc.eco, tc.a, tc.b); got != tc.want {
				t.Errorf("Compare(%s, %q, %q) = %d, want %d", tc.eco, tc.a, tc.b, got, tc.want)
			}
			err := Validate(tc.eco, tc.invalid)
			if err == nil || err.Error() != tc.wantError || !errors.Is(err, ErrInvalidVersion) {
				t.Errorf("Validate(%s, %q) = %v, want %s", tc.eco, tc.invalid, err, tc.wantError)
			}
		})
	}
}
