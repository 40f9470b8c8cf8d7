package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The configuration file (--config, PACSD_CONFIG) holds the same settings as the flags, one
// a line, named as the flag is without its dashes:
//
//	# /etc/pacsd/pacsd.conf
//	http-addr = :8080
//	organization = "某县人民医院"
//	timezone = Asia/Shanghai
//
// Blank lines and lines starting with # are ignored; a value may be written in double quotes
// (Go string syntax) to keep leading or trailing spaces. A name that is not a flag of the
// command, or a value the flag refuses, stops pacsd with the file's name and line. The
// command line wins over the environment, and the environment over the file. Secrets (the
// S3 keys) are read from the environment only, never from this file.
const configFlag = "config"

// configValues reads a configuration file into flag name -> value, checking every name
// against fs.
func configValues(fs *flag.FlagSet, path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		where := fmt.Sprintf("%s:%d", path, n)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%s: want name = value", where)
		case name == configFlag:
			return nil, fmt.Errorf("%s: a configuration file cannot name another", where)
		case fs.Lookup(name) == nil:
			return nil, fmt.Errorf("%s: %q is not a setting of pacsd %s", where, name, fs.Name())
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: %q is set twice", where, name)
		}
		if strings.HasPrefix(value, `"`) {
			u, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: bad quoted value", where, name)
			}
			value = u
		}
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return out, nil
}

// applyConfig sets every flag that neither the command line nor the environment set from
// the file's values.
func applyConfig(fs *flag.FlagSet, path string, decided map[string]bool) error {
	values, err := configValues(fs, path)
	if err != nil {
		return err
	}
	var errs []error
	for name, v := range values {
		if decided[name] {
			continue
		}
		if err := fs.Lookup(name).Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("--config %s: %s = %q: %w", path, name, v, err))
		}
	}
	return errors.Join(errs...)
}
