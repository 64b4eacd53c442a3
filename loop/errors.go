package loop

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched (errors.Is) by an *OptionError whose value cannot
// work at all, found before anything was written: a usage error.
var ErrInvalid = errors.New("loop: invalid option")

// OptionError is an error about one option: a value that cannot work
// (Invalid), or a file it names that cannot be read or written. Option is
// the option's name in lower case ("budget", "labeled", "strategy"), which
// is also the CLI's flag.
type OptionError struct {
	Option  string
	Err     error
	Invalid bool
}

// Error names the option and says what is wrong with it.
func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *OptionError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid and the value is invalid.
func (e *OptionError) Is(target error) bool { return e.Invalid && target == ErrInvalid }

// optionErr returns an invalid-value *OptionError for option with a
// formatted reason.
func optionErr(option, format string, a ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, a...), Invalid: true}
}

// invalid returns err as an invalid-value *OptionError of option.
func invalid(option string, err error) error {
	return &OptionError{Option: option, Err: err, Invalid: true}
}

// ErrTrainer marks a failure of the user's trainer command: it exited with
// an error, was stopped, or exited 0 without writing a usable model. The
// message says which. No generation is added.
var ErrTrainer = errors.New("loop: trainer")
