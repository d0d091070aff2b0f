package coord_test

import (
	"os"
	"testing"
)

// Test processes: the test binary runs itself as the ranks of launched
// jobs, with PW_TEST_ROLE set (see writerRole and rankRole).
const envRole = "PW_TEST_ROLE"

func TestMain(m *testing.M) {
	switch role := os.Getenv(envRole); role {
	case "":
	case "writer":
		os.Exit(writerRole(os.Getenv("PW_TEST_FILE")))
	default:
		os.Exit(rankRole(role, os.Getenv("PW_TEST_FILE")))
	}
	os.Exit(m.Run())
}
