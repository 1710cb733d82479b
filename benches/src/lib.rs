//! An empty library target: the package exists for its criterion benches
//! (`benches/benches/{sort,loss,conv}.rs`) and the PyTorch and diffsort scripts beside them.
