"""ODRL 2.2 policies: the model, an evaluator that fails closed, and operand resolvers per scope."""
