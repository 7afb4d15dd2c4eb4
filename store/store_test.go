package store_test

import (
	"testing"

	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
	"golang.org/x/crypto/bcrypt"
)

func init() { store.BcryptCost = bcrypt.MinCost }

// TestConformance runs the storage conformance suite on every backend.
func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			storetest.Run(t, b.DSN(t))
		})
	}
}
