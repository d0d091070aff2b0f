// Command pwriter runs checkpoint workloads as SWMR writer ranks, serves
// NATS for multi-node jobs, and recovers files whose writer died.
//
//	pwriter run [flags] FILE      write a workload (--np N ranks locally, or one rank per srun/mpirun process)
//	pwriter watch [flags] FILE    follow FILE as reader ranks (the same as preader watch)
//	pwriter nats [flags]          a standalone NATS server
//	pwriter recover [--json] FILE crash recovery
//
// Errors are one line on stderr, "pwriter CMD: message". Exit status: 0
// done, 1 failed, 2 bad command line or configuration, 130 or 143 when run
// was interrupted by SIGINT or SIGTERM (it closed FILE cleanly first; a
// second signal ends it at once).
package main

import (
	"fmt"
	"os"

	"pwstore/internal/tool/cli"
)

const usage = `usage: pwriter COMMAND [flags] ARGS

commands:
  pwriter run [flags] FILE       write a checkpoint workload into the new file FILE
  pwriter watch [flags] FILE     follow FILE with reader ranks (as preader watch)
  pwriter nats [flags]           run a standalone NATS server for multi-node jobs
  pwriter recover [--json] FILE  recover FILE after its writer died

pwriter COMMAND -h lists the flags of a command.
Exit status: 0 done, 1 failed, 2 bad command line or configuration,
130/143 run interrupted by SIGINT/SIGTERM after closing FILE cleanly.`

// commands are pwriter's subcommands.
var commands = map[string]func([]string) error{
	"run":     runCmd,
	"watch":   func(args []string) error { return cli.Watch("pwriter watch", args) },
	"nats":    natsCmd,
	"recover": recoverCmd,
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(cli.ExitUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	}
	cmd, ok := commands[args[0]]
	if !ok {
		cli.Exit("pwriter", cli.Usagef("unknown command %q", args[0]))
	}
	cli.Exit("pwriter "+args[0], cmd(args[1:]))
}
