/*
 * prof_env — the environment gperftools reads when it loads.
 *
 * libprofiler reads CPUPROFILE_FREQUENCY and tcmalloc reads TCMALLOC_SAMPLE_PARAMETER once,
 * while the dynamic loader initializes them, before main runs; setting them later has no
 * effect.  So orderd, once it knows `profiling.cpu_hz` and `profiling.heap_sample_bytes`
 * from its configuration, checks its own environment and, if it does not match, sets it and
 * re-executes itself (/proc/self/exe, same argv) so that the libraries load again with the
 * right values.
 *
 * The re-exec happens at most once: the marker variable OD_PROF_REEXEC is set for the new
 * image, which removes it on its first call (so children never inherit it) and remembers
 * that it was re-executed; a re-executed process never re-executes again, so a mismatch that
 * survives exec can never loop.
 *
 * Threading: call from main before any thread starts (exec replaces the whole process, and
 * setenv is not thread-safe).
 */
#ifndef OD_PROF_PROF_ENV_H
#define OD_PROF_PROF_ENV_H

/** name of the marker variable that guards the re-exec */
#define OD_PROF_REEXEC_ENV "OD_PROF_REEXEC"

/**
 * makes sure the environment holds CPUPROFILE_FREQUENCY = cpu_hz and
 * TCMALLOC_SAMPLE_PARAMETER = heap_sample_bytes as the libraries understand them (an unset
 * CPUPROFILE_FREQUENCY counts as 100, libprofiler's default; heap_sample_bytes 0 means heap
 * profiling off, which an unset or "0" TCMALLOC_SAMPLE_PARAMETER already gives); when it does
 * not, sets them and re-executes /proc/self/exe with argv (NULL-terminated, as main gets it).
 * cpu_hz <= 0 leaves CPUPROFILE_FREQUENCY alone; heap_sample_bytes < 0 leaves
 * TCMALLOC_SAMPLE_PARAMETER alone.
 * @return 0 if the environment already matched (no re-exec needed); -1 if a re-exec was
 * needed but failed or was refused because this process is itself the result of one (a
 * warning is logged; the process goes on with the values the libraries loaded with).
 * Does not return when the re-exec succeeds.
 */
int od_prof_env_reexec(char **argv, int cpu_hz, long heap_sample_bytes);

/** @return 1 if this process was started by od_prof_env_reexec's re-exec, 0 if not */
int od_prof_env_reexeced(void);

#endif
