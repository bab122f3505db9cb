package configs

import (
	"fmt"
	"strconv"
)

// Switch is a yes/no setting that can also be left to the data: "auto".
// In TOML it is written true, false or "auto".
type Switch uint8

const (
	// SwitchAuto decides from the data (see the key's documentation).
	SwitchAuto Switch = iota
	// SwitchOff is false.
	SwitchOff
	// SwitchOn is true.
	SwitchOn
)

// On resolves the switch: true for SwitchOn, false for SwitchOff, and auto
// for SwitchAuto.
func (s Switch) On(auto bool) bool {
	switch s {
	case SwitchOn:
		return true
	case SwitchOff:
		return false
	}
	return auto
}

// Of returns SwitchOn or SwitchOff.
func Of(on bool) Switch {
	if on {
		return SwitchOn
	}
	return SwitchOff
}

// String returns "true", "false" or "auto", as in a config file.
func (s Switch) String() string {
	switch s {
	case SwitchOn:
		return "true"
	case SwitchOff:
		return "false"
	case SwitchAuto:
		return "auto"
	}
	return fmt.Sprintf("Switch(%d)", uint8(s))
}

// switchFrom parses a decoded TOML value: a boolean or the string "auto".
func switchFrom(v any) (Switch, error) {
	switch x := v.(type) {
	case bool:
		return Of(x), nil
	case string:
		if x == "auto" {
			return SwitchAuto, nil
		}
		return 0, fmt.Errorf("want true, false or \"auto\", got %s", strconv.Quote(x))
	}
	return 0, fmt.Errorf("want true, false or \"auto\", got %s", tomlType(v))
}

// UnmarshalTOML implements toml.Unmarshaler.
func (s *Switch) UnmarshalTOML(v any) error {
	x, err := switchFrom(v)
	if err != nil {
		return err
	}
	*s = x
	return nil
}

// MarshalTOML implements toml.Marshaler: a bare boolean, or "auto".
func (s Switch) MarshalTOML() ([]byte, error) {
	if s == SwitchAuto {
		return []byte(`"auto"`), nil
	}
	return []byte(s.String()), nil
}
