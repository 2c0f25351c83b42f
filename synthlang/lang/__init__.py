"""The scene language front end: grammar, parser, lowering to an AST and the compiler to the IR."""
