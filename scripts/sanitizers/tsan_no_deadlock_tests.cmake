# Read by ctest in the TSan build (CMakeLists.txt, AISLE_SANITIZE=thread):
# these tests run with TSan's deadlock detector off; its race detection
# stays on.
#
# Why: both build an HNSW index (hnswlib::HierarchicalNSW::addPoint), whose
# per-element link-list locks are taken in an order TSan reports as a
# potential deadlock: the pattern tsan_suppressions.txt already suppresses
# by function (deadlock:hnswlib::HierarchicalNSW*::addPoint, with why it
# cannot deadlock). In these two tests TSan's deadlock detector loses the
# stacks of the cycle (its report shows only the placeholder frame
# 0x000000000042), so no suppression by function can match. Breaking on
# the report in gdb (break __tsan::ReportDeadlock if $rdx != 0) shows the
# thread in hnswlib::HierarchicalNSW<float>::searchBaseLayer (a link-list
# lock) called from addPoint, from aisle::core::AnnIndex::Build: on the
# test's main thread (EngineTest, FactorModel::Create) and on the engine's
# swap thread (ClusterModelsTest, Engine::State::AfterSwap), 2026-12-03.
foreach(test
    EngineTest.BackgroundRefoldAndDeferredAnnGiveTheSameResults
    ClusterModelsTest.AnActivationDoesNotHoldTheApplierWhileItsIndexBuilds)
  set_tests_properties(${test} PROPERTIES ENVIRONMENT_MODIFICATION
    "TSAN_OPTIONS=string_append::detect_deadlocks=0")
endforeach()
