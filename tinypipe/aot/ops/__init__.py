"""One module per operator family; each registers its lowerings with `tinypipe.aot.lowering.register`."""
