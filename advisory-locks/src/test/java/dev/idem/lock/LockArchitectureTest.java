package dev.idem.lock;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.idem.lock.internal.HikariLockConnections;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What the lock library may depend on. The rules shared by both libraries (no cycles between
 * components, no internal type in a public signature, SQL only in its homes) run in the consumer
 * framework's {@code ArchitectureTest}, which sees this library's classes too.
 */
class LockArchitectureTest {
  private static JavaClasses library;

  @BeforeAll
  static void importTheLibrary() {
    library =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .withImportOption(location -> !location.contains("/dev/idem/testkit/"))
            .importPackages("dev.idem");
    assertThat(library.contain(AdvisoryLocks.class)).isTrue();
  }

  @Test
  void theLibraryUsesNothingOfTheConsumerOrOfKafka() {
    noClasses()
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("dev.idem.consumer..", "org.apache.kafka..")
        .check(library);
  }

  @Test
  void onlyOneClassTouchesHikariCpSoThatItStaysOptional() {
    noClasses()
        .that()
        .doNotHaveFullyQualifiedName(HikariLockConnections.class.getName())
        .should()
        .dependOnClassesThat()
        .resideInAPackage("com.zaxxer.hikari..")
        .check(library);
  }

  @Test
  void theLockToolkitAndTheSharedInternalsHaveNoCycle() {
    // dev.idem.lock.. and dev.idem.internal.. (the transaction template, used by both libraries).
    slices().matching("dev.idem.(*)..").should().beFreeOfCycles().check(library);
  }

  @Test
  void theSharedInternalsDependOnNoOtherIdemPackage() {
    noClasses()
        .that()
        .resideInAPackage("dev.idem.internal..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("dev.idem.lock..", "dev.idem.consumer..")
        .check(library);
  }
}
