"""Transfer: the DSP transfer process (control plane) and the data plane that moves the bytes."""
