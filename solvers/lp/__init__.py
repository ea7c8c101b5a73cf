"""Linear programs and their solvers: :mod:`.program` builds a sparse LP from vectorised
families (variables and rows over element x period) and defines what a backend offers;
:mod:`.highs` solves it with HiGHS through highspy, :mod:`.pyomo` through Pyomo's persistent
HiGHS interface, :mod:`.backends` picks one by name. The OPF (:mod:`solvers.opf`) and hosting
capacity (:mod:`solvers.hosting_capacity`) build their LPs here."""
