// Command pwriter runs checkpoint workloads as SWMR writer ranks, serves
// NATS for multi-node jobs, and recovers files whose writer died.
//
//	pwriter run [flags] FILE      write a workload (--np N ranks locally, or one rank per srun/mpirun process)
//	pwriter watch [flags] FILE    follow FILE as reader ranks (the same as preader watch)
//	pwriter nats [flags]          a standalone NATS server
//	pwriter recover [--json] FILE crash recovery
package main

import (
	"fmt"
	"os"

	"pwstore/internal/tool/cli"
)

const usage = `usage:
  pwriter run [flags] FILE       write a checkpoint workload (pwriter run -h for flags)
  pwriter watch [flags] FILE     follow FILE with reader ranks (as preader watch)
  pwriter nats [flags]           run a standalone NATS server for multi-node jobs
  pwriter recover [--json] FILE  recover FILE after its writer died`

func main() {
	cli.Exit("pwriter", run(os.Args[1:]))
}

func run(args []string) error {
	if len(args) == 0 {
		return cli.Usagef("%s", usage)
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:])
	case "watch":
		return cli.Watch("pwriter watch", args[1:])
	case "nats":
		return natsCmd(args[1:])
	case "recover":
		return recoverCmd(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return cli.Usagef("unknown command %q\n%s", args[0], usage)
}
