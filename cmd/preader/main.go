// Command preader reads pwstore files, while their writer runs or after.
//
//	preader ls [--json] FILE                 list datasets
//	preader cat [--slice S] FILE DATASET     print values
//	preader export --npy OUT FILE DATASET    write a dataset (or slice) as numpy .npy
//	preader watch [--np M] FILE              follow a file being written, verifying every snapshot
//	preader verify [--json] FILE             deep-check a closed or recovered file
package main

import (
	"fmt"
	"os"

	"pwstore/internal/tool/cli"
)

const usage = `usage:
  preader ls [--json] FILE                   list datasets with type and shape
  preader cat [--slice S] [--json] FILE DS   print values (S: per dimension a, a:b or :, comma-separated)
  preader export --npy OUT [--slice S] FILE DS   write values as a numpy .npy file
  preader watch [--np M] [--timeout D] [--json] FILE   follow a file being written, verifying every snapshot
  preader verify [--json] FILE               deep-check a closed or recovered file`

func main() {
	cli.Exit("preader", run(os.Args[1:]))
}

func run(args []string) error {
	if len(args) == 0 {
		return cli.Usagef("%s", usage)
	}
	switch args[0] {
	case "ls":
		return lsCmd(args[1:])
	case "cat":
		return catCmd(args[1:])
	case "export":
		return exportCmd(args[1:])
	case "watch":
		return cli.Watch("preader watch", args[1:])
	case "verify":
		return verifyCmd(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return cli.Usagef("unknown command %q\n%s", args[0], usage)
}
