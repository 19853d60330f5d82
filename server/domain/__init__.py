"""The domain: one service layer for every change, whatever entry point it comes from."""
