package python

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPythonSuite runs the Python tracker's tests (sdk/python/tests): unit
// tests against a local HTTP server and, when OTELCOL_ANALYTICS_BIN is set
// (`make test`), against the real collector with a schema and a Redis
// prefix of their own. It is skipped, saying so, when python3 (≥ 3.9) is
// not installed.
func TestPythonSuite(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: the Python tracker's tests (sdk/python/tests) did not run; install Python ≥ 3.9 to run them")
	}
	if out, err := exec.Command(py, "-c", "import sys; sys.exit(sys.version_info < (3, 9))").CombinedOutput(); err != nil {
		t.Skipf("%s is older than 3.9 (%s): the Python tracker's tests did not run", py, strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "discover", "-s", "tests", "-v")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if goBin, err := exec.LookPath("go"); err == nil {
		cmd.Env = append(cmd.Env, "GO="+goBin)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("python3 -m unittest discover -s sdk/python/tests (%s):\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if err != nil {
		t.Fatalf("the Python tests failed: %v", err)
	}
	ran := regexp.MustCompile(`(?m)^Ran (\d+) tests? in`).FindSubmatch(out)
	if ran == nil || string(ran[1]) == "0" {
		t.Fatalf("the Python suite ran no test")
	}
	if os.Getenv("OTELCOL_ANALYTICS_BIN") != "" && strings.Contains(string(out), "skipped 'OTELCOL_ANALYTICS_BIN") {
		t.Fatal("OTELCOL_ANALYTICS_BIN is set but the collector tests were skipped")
	}
}
