// Command preader reads pwstore files, while their writer runs or after.
//
//	preader ls [--json] FILE                 list datasets
//	preader cat [--slice S] FILE DATASET     print values
//	preader export --npy OUT FILE DATASET    write a dataset (or slice) as numpy .npy
//	preader watch [--np M] FILE              follow a file being written, verifying every snapshot
//	preader verify [--json] FILE             deep-check a closed or recovered file
//
// Errors are one line on stderr, "preader CMD: message"; the exit status is
// 1 when the work failed and 2 for a bad command line or configuration.
package main

import (
	"fmt"
	"os"

	"pwstore/internal/tool/cli"
)

const usage = `usage: preader COMMAND [flags] ARGS

commands:
  preader ls [--json] FILE                       list datasets with type and shape
  preader cat [--slice S] [--json] FILE DS       print values (S: per dimension a, a:b or :, comma-separated)
  preader export --npy OUT [--slice S] FILE DS   write values as a numpy .npy file
  preader watch [--np M] [--timeout D] [--json] FILE
                                                 follow a file being written, verifying every snapshot
  preader verify [--json] FILE                   deep-check a closed or recovered file

preader COMMAND -h lists the flags of a command.
Exit status: 0 done, 1 failed, 2 bad command line or configuration.`

// commands are preader's subcommands.
var commands = map[string]func([]string) error{
	"ls":     lsCmd,
	"cat":    catCmd,
	"export": exportCmd,
	"watch":  func(args []string) error { return cli.Watch("preader watch", args) },
	"verify": verifyCmd,
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
		cli.Exit("preader", cli.Usagef("unknown command %q", args[0]))
	}
	cli.Exit("preader "+args[0], cmd(args[1:]))
}
