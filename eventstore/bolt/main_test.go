package bolt_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if readAll.store != nil {
		readAll.store.Close()
	}
	if readAll.dir != "" {
		os.RemoveAll(readAll.dir)
	}
	os.Exit(code)
}
