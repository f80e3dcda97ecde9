"""Data subject rights and anonymity: erasure with its proof, the suppression list that keeps
erased people out of later ingestions (see :mod:`pipelines.privacy.erase`)."""
