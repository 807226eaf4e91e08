"""The command line: `dln run/table/info/diff/store`."""
