"""Studies of GAN training dynamics, run from ``minigan study``.

* :mod:`minigan.study.dirac`: the Dirac-GAN of Mescheder et al. (2018) -- a 2-parameter game on
  which each training method's convergence, oscillation or divergence can be seen and measured;
* :mod:`minigan.study.jacobian`: the leading eigenvalues of the Jacobian of the joint (D, G)
  gradient field at a run's checkpoint, from vector-Jacobian products by double backprop;
* :mod:`minigan.study.arnoldi`: the Arnoldi iteration behind it.

Nothing is imported here, so ``import minigan`` never pays for the studies (or matplotlib).
"""
